#ifndef ZCDEMO_GEOM_STATS_H
#define ZCDEMO_GEOM_STATS_H

#include <stddef.h>

#include "common/config.h"

#ifdef __cplusplus
extern "C" {
#endif

double stats_mean(const double *values, size_t count);
double stats_max(const double *values, size_t count);

#ifdef __cplusplus
}
#endif

#endif
