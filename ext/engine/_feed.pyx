# cython: language_level=3
# placeholder: replaced by the real module
cdef extern from *:
    """
    #ifndef ENGINE_BUILD_MODE
    #define ENGINE_BUILD_MODE "unknown"
    #endif
    """
    const char* ENGINE_BUILD_MODE

BUILD_MODE = ENGINE_BUILD_MODE.decode()
