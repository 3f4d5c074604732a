import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

ApplicationWindow {
    id: window
    width: 1200
    height: 800
    visible: true
    title: qsTr("HLWQ Chat")

    Label {
        objectName: "welcome"
        anchors.centerIn: parent
        text: qsTr("HLWQ Chat")
        font.pixelSize: 28
    }
}
