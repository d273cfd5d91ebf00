/*
 * unit.h - common includes for the cmocka unit tests
 */
#ifndef PETREL_UNIT_H
#define PETREL_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* unit_tmpdir - a fresh temporary directory (removed by unit_rmtree) */
char *unit_tmpdir(void);
void unit_rmtree(const char *dir);
void unit_write_file(const char *path, const char *text);

#endif
