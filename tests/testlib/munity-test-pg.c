#include "munity-test-pg.h"
