/* SPDX-License-Identifier: MIT */
/* The umbrella header: everything a camas user needs. */
#pragma once

#include <camas/version.h>
#include <camas/error.h>
#include <camas/value.h>
#include <camas/codec.h>
