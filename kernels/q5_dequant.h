#pragma once
// Renamed to q_dequant.h (all widths); this forward stays until its last includers move.
#include "q_dequant.h"
