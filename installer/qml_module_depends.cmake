# The Debian packages of the Qt QML modules the UI imports, read from the `import Qt...` lines
# of the .qml files, so that a new import in ui/ reaches the .deb's Depends without a second list.
# Debian names the package of module A.B.C "qml6-module-a-b-c".
function(hlwq_qml_module_depends out_var qml_dir)
  file(GLOB_RECURSE qml_files ${qml_dir}/*.qml)
  # An edited import re-runs CMake; a new .qml file comes with an edit of ui/CMakeLists.txt.
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${qml_files})
  # QtQuick.Controls loads QtQuick.Templates and QtQuick.Window, QtQuick loads QtQml and its
  # Models and WorkerScript modules: imports the .qml files never spell out.
  set(modules QtQml QtQml.Models QtQml.WorkerScript QtQuick.Templates QtQuick.Window)
  foreach(file IN LISTS qml_files)
    file(STRINGS ${file} imports REGEX "^[ \t]*import[ \t]+Qt[A-Za-z.]*")
    foreach(line IN LISTS imports)
      string(REGEX REPLACE "^[ \t]*import[ \t]+(Qt[A-Za-z.]*).*" "\\1" module "${line}")
      list(APPEND modules ${module})
    endforeach()
  endforeach()
  list(REMOVE_DUPLICATES modules)
  list(SORT modules)
  set(packages "")
  foreach(module IN LISTS modules)
    string(TOLOWER "${module}" name)
    string(REPLACE "." "-" name "${name}")
    list(APPEND packages "qml6-module-${name}")
  endforeach()
  list(JOIN packages ", " joined)
  set(${out_var} "${joined}" PARENT_SCOPE)
endfunction()
