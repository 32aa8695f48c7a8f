#include "config.h"
#include "munity-embedded-pg.h"
