/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>

/* Ember as PID 1. Never returns. */
_Noreturn void pid1_main(int argc, char **argv);

/* The single stages as tools outside PID 1 (`init cmdline …`). */
int tool_main(int argc, char **argv);
int tool_network(int argc, char **argv);
int tool_overlay(int argc, char **argv);
int tool_hostprep(int argc, char **argv);
int tool_measure(int argc, char **argv);
int tool_ready(int argc, char **argv);
int tool_rke2_config(int argc, char **argv);
int tool_rke2(int argc, char **argv);
int tool_esp(int argc, char **argv);
int tool_report(int argc, char **argv);

/* /init run as `modprobe` (argv[0]'s basename): see modprobe.c. */
int modprobe_main(int argc, char **argv);

/* Loads the modules named in list_path (one a line) with their
 * dependencies, from /lib/modules/<release>/. Returns the number of
 * failures, or -errno. */
int modules_load_list(const char *moddir, const char *list_path, char *detail, size_t detaillen);

#ifdef EMBER_DEBUG_IMAGE
#define EMBER_IS_DEBUG_IMAGE true
#else
#define EMBER_IS_DEBUG_IMAGE false
#endif
#ifndef EMBER_VERSION
#define EMBER_VERSION "0.0.0-dev"
#endif
