/* SPDX-License-Identifier: Apache-2.0 */
/* Directory listings for seal's walk and the commit (private to overlay/). */
#pragma once

#include <stddef.h>

struct names {
        char **v;
        size_t n;
};

/* Every name in the directory fd but "." and "..", sorted bytewise, read
 * whole before the caller changes anything. *ret is written only on
 * success. */
int list_dir(int fd, struct names *ret);
void names_free(struct names *l);
