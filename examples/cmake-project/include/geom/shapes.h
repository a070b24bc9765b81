#ifndef ZCDEMO_GEOM_SHAPES_H
#define ZCDEMO_GEOM_SHAPES_H

#include "common/config.h"
#include "geom/vec.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rect {
  vec2 min;
  vec2 max;
} rect;

double rect_area(rect r);
vec2 rect_center(rect r);

#ifdef __cplusplus
}
#endif

#endif
