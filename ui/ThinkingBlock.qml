import QtQuick
import HlwqChat
import QtQuick.Controls
import QtQuick.Layouts

// The model's thinking, apart from the answer: open while it streams, one click to fold.
Rectangle {
    id: root
    property string text
    property bool live: false
    property bool expanded: live
    onLiveChanged: expanded = live
    implicitHeight: col.implicitHeight + 16
    radius: 10
    color: "transparent"
    border.color: Theme.border

    ColumnLayout {
        id: col
        anchors.fill: parent
        anchors.margins: 8
        spacing: 4
        AbstractButton {
            id: toggle
            Layout.fillWidth: true
            implicitHeight: 22
            Accessible.name: root.expanded ? qsTr("Hide thinking") : qsTr("Show thinking")
            onClicked: root.expanded = !root.expanded
            contentItem: Label {
                text: (root.expanded ? "▾  " : "▸  ") + (root.live ? qsTr("Thinking…") : qsTr("Thought process"))
                color: Theme.textMuted
                font.pixelSize: 12
                font.italic: root.live
            }
        }
        TextEdit {
            visible: root.expanded
            Layout.fillWidth: true
            text: root.text
            readOnly: true
            selectByMouse: true
            wrapMode: Text.Wrap
            color: Theme.textMuted
            font.pixelSize: 13
            Accessible.name: qsTr("Thinking")
        }
    }
}
