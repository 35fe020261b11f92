/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>
#include <unistd.h>

#include "boot.h"

int main(int argc, char **argv)
{
        /* the image's /sbin/modprobe is a symlink to /init */
        const char *base = argc > 0 && argv[0] ? strrchr(argv[0], '/') : NULL;
        if (argc > 0 && argv[0] && strcmp(base ? base + 1 : argv[0], "modprobe") == 0)
                return modprobe_main(argc, argv);
        if (getpid() == 1)
                pid1_main(argc, argv);
        return tool_main(argc, argv);
}
