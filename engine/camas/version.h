/* SPDX-License-Identifier: MIT */
/* Symbol export and compile-time checks shared by every public header. */
#pragma once

#include <glib.h>

#if defined(CAMAS_COMPILATION)
#define CAMAS_API __attribute__((visibility("default")))
#else
#define CAMAS_API
#endif

#define CAMAS_VERSION_MAJOR 0
#define CAMAS_VERSION_MINOR 1
#define CAMAS_VERSION_MICRO 0
