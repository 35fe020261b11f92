/* SPDX-License-Identifier: Apache-2.0 */
/* rke2 STAND-IN (a TEST PROGRAM, NOT rke2): one OCI container the way
 * rke2's containerd would run it. See container.c. */
#pragma once

/* Mounts an overlayfs snapshot of ROOT/BUNDLE/rootfs under ROOT/DATA_DIR,
 * installs netfilter rules with iptables, runs the bundle with runc.
 * Returns 0 when the container exited 0 and its write reached the upper
 * layer, -1 otherwise (each step says what failed on stdout). */
int standin_run_container(const char *root, const char *data_dir, const char *bundle);
