# `cmake --install build --prefix P` puts into P:
#   bin/                 moe-opt, moe-translate, moe-compile, moe-run, moe-plan
#   include/moe/...      the runtime's C and C++ headers
#   lib/                 libMoERuntime.a, libMoESupport.a (static, PIC)
#   lib/moec/            the embedded runtime archives an installed
#                        moe-compile links into every library it emits
#   lib/cmake/moec/      moecConfig.cmake: find_package(moec) gives
#                        moec::runtime (and moec::support)
#   lib/pkgconfig/       moec.pc: `pkg-config --cflags --libs moec`
# The tools find Debian's LLVM and MLIR libraries through their rpath.
include(CMakePackageConfigHelpers)

set(MOEC_INSTALL_CMAKE_DIR lib/cmake/moec)
set(MOEC_INSTALL_BINDIR bin)

set(MOEC_INSTALLED_TOOLS moe-opt moe-translate moe-compile moe-run moe-plan)
set_target_properties(${MOEC_INSTALLED_TOOLS} PROPERTIES
  INSTALL_RPATH "${LLVM_LIBRARY_DIR}")
install(TARGETS ${MOEC_INSTALLED_TOOLS} RUNTIME DESTINATION ${MOEC_INSTALL_BINDIR})

set_target_properties(MoERuntime PROPERTIES EXPORT_NAME runtime)
set_target_properties(MoESupport PROPERTIES EXPORT_NAME support)
install(TARGETS MoERuntime MoESupport EXPORT moecTargets
  ARCHIVE DESTINATION lib
  INCLUDES DESTINATION include)
install(EXPORT moecTargets NAMESPACE moec:: DESTINATION ${MOEC_INSTALL_CMAKE_DIR})

# The headers a program that loads compiled libraries includes, and what
# they include.
install(FILES
  include/moe/Runtime/moe_runtime.h
  include/moe/Runtime/moe_loader.h
  include/moe/Runtime/Loader.h
  include/moe/Runtime/RoutingSummary.h
  DESTINATION include/moe/Runtime)
install(FILES
  include/moe/Support/AlignedBuffer.h
  include/moe/Support/SafeTensors.h
  DESTINATION include/moe/Support)

install(FILES $<TARGET_FILE:MoEEmbeddedRuntime> DESTINATION lib/moec)
if(TARGET MoEEmbeddedCudaRuntime)
  install(FILES $<TARGET_FILE:MoEEmbeddedCudaRuntime> DESTINATION lib/moec)
endif()

configure_package_config_file(cmake/moecConfig.cmake.in
  ${PROJECT_BINARY_DIR}/moecConfig.cmake
  INSTALL_DESTINATION ${MOEC_INSTALL_CMAKE_DIR}
  PATH_VARS MOEC_INSTALL_BINDIR)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/moecConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/moecConfig.cmake
  ${PROJECT_BINARY_DIR}/moecConfigVersion.cmake
  DESTINATION ${MOEC_INSTALL_CMAKE_DIR})

# pkg-config: the runtime is static, so its dependencies are in Libs (and
# MPI's in Requires) for every link, not only --static ones.
set(MOEC_PC_REQUIRES "")
if(MOEC_HAVE_MPI)
  set(MOEC_PC_REQUIRES "ompi-c")
endif()
configure_file(cmake/moec.pc.in ${PROJECT_BINARY_DIR}/moec.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/moec.pc DESTINATION lib/pkgconfig)
