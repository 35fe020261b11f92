/* SPDX-License-Identifier: Apache-2.0 */
/* ember-overlay: `emberctl overlay` on its own, for tests and for hosts
 * without the verifier's tools. */
#include "overlay_cmd.h"

int main(int argc, char **argv)
{
        return overlay_command(argc, argv);
}
