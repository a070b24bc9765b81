/* Shared by every translation unit of both libraries (but not the app). */
#ifndef ZCDEMO_COMMON_CONFIG_H
#define ZCDEMO_COMMON_CONFIG_H

#define ZCDEMO_MAX_NAME 64

#endif
