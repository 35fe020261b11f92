/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* `emberctl overlay …` (argv[0] is "overlay"): seal, inspect, verify,
 * apply. Returns the exit status: 0 done, 1 failed, 2 bad usage. */
int overlay_command(int argc, char **argv);
