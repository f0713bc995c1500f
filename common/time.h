/* tsc — time as engines see it: an unsigned count of microseconds on some
 * monotonic clock chosen by the driver (libuv's in the agent, virtual time in
 * the simulator). Engines never read a clock; `now` arrives in every event. */
#ifndef TSC_COMMON_TIME_H
#define TSC_COMMON_TIME_H

#include <stdint.h>

#define TSC_USEC(x)    ((uint64_t)(x))
#define TSC_MSEC(x)    ((uint64_t)(x)*1000u)
#define TSC_SEC(x)     ((uint64_t)(x)*1000000u)
#define TSC_TIME_NEVER UINT64_MAX

#endif
