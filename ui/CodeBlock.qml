import QtQuick
import HlwqChat
import QtQuick.Controls
import QtQuick.Layouts

// A fenced code block: monospace, its language, and a copy button.
Rectangle {
    id: root
    property string code
    property string language
    implicitHeight: header.height + codeText.implicitHeight + 20
    radius: 10
    color: Theme.codeBg
    border.color: Theme.border

    Rectangle {
        id: header
        width: parent.width
        height: 30
        radius: 10
        color: Theme.surfaceAlt
        Rectangle { anchors.bottom: parent.bottom; width: parent.width; height: 10; color: Theme.surfaceAlt }
        RowLayout {
            anchors.fill: parent
            anchors.leftMargin: 12
            anchors.rightMargin: 4
            Label { text: root.language.length ? root.language : qsTr("code"); color: Theme.textMuted; font.pixelSize: 11; font.family: Theme.mono }
            Item { Layout.fillWidth: true }
            IconButton {
                id: copy
                objectName: "copyCodeButton"
                text: copied ? qsTr("Copied") : qsTr("Copy")
                property bool copied: false
                Accessible.name: qsTr("Copy code")
                font.pixelSize: 11
                padding: 2
                onClicked: { App.copyText(root.code); copied = true; reset.restart() }
                Timer { id: reset; interval: 1500; onTriggered: copy.copied = false }
            }
        }
    }
    TextEdit {
        id: codeText
        anchors.top: header.bottom
        anchors.left: parent.left
        anchors.right: parent.right
        anchors.margins: 10
        text: root.code
        readOnly: true
        selectByMouse: true
        wrapMode: TextEdit.WrapAnywhere
        font.family: Theme.mono
        font.pixelSize: 13
        color: Theme.text
        Accessible.name: qsTr("Code")
    }
}
