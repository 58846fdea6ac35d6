/* version.h - the onex release version, logged at start (spec §9). */
#ifndef ONEX_VERSION_H
#define ONEX_VERSION_H
#define ONEX_VERSION "0.1.0"
#endif
