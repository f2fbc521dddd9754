# Detects the optional execution engines (CUDA toolkit, NCCL, MPI).
# Each MOEC_ENABLE_* is AUTO (use when found), ON (required) or OFF.

function(moec_resolve_engine name found)
  if(MOEC_ENABLE_${name} STREQUAL "AUTO")
    if(found)
      set(MOEC_HAVE_${name} ON PARENT_SCOPE)
    else()
      set(MOEC_HAVE_${name} OFF PARENT_SCOPE)
    endif()
  elseif(MOEC_ENABLE_${name})
    if(NOT ${found})
      message(FATAL_ERROR "MOEC_ENABLE_${name}=ON but ${name} was not found")
    endif()
    set(MOEC_HAVE_${name} ON PARENT_SCOPE)
  else()
    set(MOEC_HAVE_${name} OFF PARENT_SCOPE)
  endif()
endfunction()

find_package(CUDAToolkit QUIET)
moec_resolve_engine(CUDA "${CUDAToolkit_FOUND}")

set(_nccl_found OFF)
if(CUDAToolkit_FOUND)
  find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/include)
  find_library(NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/lib/x86_64-linux-gnu)
  if(NCCL_INCLUDE_DIR AND NCCL_LIBRARY)
    set(_nccl_found ON)
  endif()
endif()
moec_resolve_engine(NCCL "${_nccl_found}")

find_package(MPI QUIET COMPONENTS C)
moec_resolve_engine(MPI "${MPI_C_FOUND}")

message(STATUS "moec engines: CUDA=${MOEC_HAVE_CUDA} NCCL=${MOEC_HAVE_NCCL} MPI=${MOEC_HAVE_MPI}")
