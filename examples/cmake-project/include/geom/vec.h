#ifndef ZCDEMO_GEOM_VEC_H
#define ZCDEMO_GEOM_VEC_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vec2 {
  double x;
  double y;
} vec2;

vec2 vec2_add(vec2 a, vec2 b);
vec2 vec2_scale(vec2 v, double factor);
double vec2_dot(vec2 a, vec2 b);

#ifdef __cplusplus
}
#endif

#endif
