/* SPDX-License-Identifier: Apache-2.0 */
#include <unistd.h>

#include "boot.h"

int main(int argc, char **argv)
{
        if (getpid() == 1)
                pid1_main(argc, argv);
        return tool_main(argc, argv);
}
