/* SPDX-License-Identifier: MIT */
/* The umbrella header: everything a camas user needs. */
#pragma once

#include <camas/version.h>
#include <camas/error.h>
#include <camas/value.h>
#include <camas/codec.h>
#include <camas/frame.h>
#include <camas/time.h>
#include <camas/loop.h>
#include <camas/trace.h>
#include <camas/future.h>
#include <camas/clock.h>
#include <camas/task.h>
#include <camas/rng.h>
#include <camas/transport.h>
#include <camas/channel.h>
#include <camas/rpc.h>
#include <camas/agent.h>
#include <camas/container.h>
#include <camas/registry.h>
#include <camas/subproc.h>
#include <camas/scenario.h>
#include <camas/localqueue.h>
