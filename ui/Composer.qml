import QtQuick
import HlwqChat
import QtQuick.Controls
import QtQuick.Layouts

// Where the user writes. Enter sends, Shift+Enter breaks the line, Esc stops a reply.
Rectangle {
    id: root
    implicitHeight: Math.min(220, column.implicitHeight + 20)
    radius: 14
    color: Theme.surface
    border.color: input.activeFocus ? Theme.accent : Theme.border
    function focusInput() { input.forceActiveFocus() }

    function submit() {
        if (App.chat.send(input.text)) input.clear()
    }

    ColumnLayout {
        id: column
        anchors.fill: parent
        anchors.margins: 10
        spacing: 6

        ScrollView {
            Layout.fillWidth: true
            Layout.fillHeight: true
            Layout.minimumHeight: 28
            TextArea {
                id: input
                objectName: "composerInput"
                placeholderText: App.models.loaded ? qsTr("Message %1…").arg(App.models.activeName) : qsTr("Load a model to chat")
                placeholderTextColor: Theme.textMuted
                color: Theme.text
                wrapMode: TextEdit.Wrap
                font.pixelSize: Theme.fontSize
                background: null
                focus: true
                Accessible.name: qsTr("Message")
                Keys.onPressed: (event) => {
                    if ((event.key === Qt.Key_Return || event.key === Qt.Key_Enter)
                            && !(event.modifiers & Qt.ShiftModifier)) {
                        event.accepted = true
                        if (!App.chat.busy) root.submit()
                    } else if (event.key === Qt.Key_Escape && App.chat.busy) {
                        event.accepted = true
                        App.chat.stop()
                    }
                }
            }
        }
        RowLayout {
            Layout.fillWidth: true
            spacing: 6
            Button {
                id: thinking
                objectName: "thinkingSwitch"
                checkable: true
                checked: App.chat.thinkingEnabled
                onToggled: App.chat.thinkingEnabled = checked
                text: checked ? qsTr("Thinking on") : qsTr("Thinking off")
                Accessible.name: qsTr("Thinking")
                ToolTip.visible: hovered
                ToolTip.text: qsTr("Let the model think before it answers")
                implicitHeight: 28
                contentItem: Text {
                    text: thinking.text; font.pixelSize: 12
                    color: thinking.checked ? Theme.accent : Theme.textMuted
                    horizontalAlignment: Text.AlignHCenter; verticalAlignment: Text.AlignVCenter
                }
                background: Rectangle {
                    radius: 14
                    color: thinking.checked ? Qt.rgba(Theme.accent.r, Theme.accent.g, Theme.accent.b, 0.12) : "transparent"
                    border.color: thinking.checked ? Theme.accent : Theme.border
                }
            }
            Item { Layout.fillWidth: true }
            Label {
                text: qsTr("Enter to send · Shift+Enter for a new line")
                color: Theme.textMuted
                font.pixelSize: 11
                visible: root.width > 560
            }
            Button {
                id: sendButton
                objectName: "sendButton"
                text: App.chat.busy ? qsTr("Stop") : qsTr("Send")
                Accessible.name: App.chat.busy ? qsTr("Stop generating") : qsTr("Send message")
                enabled: App.chat.busy || (input.text.trim().length > 0 && App.models.loaded)
                onClicked: App.chat.busy ? App.chat.stop() : root.submit()
                implicitWidth: 76
                implicitHeight: 34
                contentItem: Text {
                    text: sendButton.text; color: Theme.accentText; font.bold: true; font.pixelSize: 13
                    horizontalAlignment: Text.AlignHCenter; verticalAlignment: Text.AlignVCenter
                }
                background: Rectangle {
                    radius: 9
                    color: !sendButton.enabled ? Theme.border : (App.chat.busy ? Theme.danger : Theme.accent)
                }
            }
        }
    }
}
