// The translation unit that owns the precompiled torch header (see CMakeLists.txt).
#include "core/torch_pch.h"
