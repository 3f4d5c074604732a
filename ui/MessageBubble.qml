import QtQuick
import HlwqChat
import QtQuick.Controls
import QtQuick.Layouts

// One message. The user's on the right in a bubble; the assistant's full width with its
// thinking (collapsible), the answer as Markdown with code blocks, stats and actions.
Item {
    id: root
    required property int index
    required property string role
    required property string content
    required property string thinking
    required property string state
    required property int tokens
    required property double tokensPerSecond
    required property double ttft
    required property string kvMode
    required property var blocks
    required property bool streaming
    readonly property bool isUser: role === "user"
    property bool editing: false

    implicitHeight: column.implicitHeight

    ColumnLayout {
        id: column
        width: parent.width
        spacing: 6

        // --- user ---
        Rectangle {
            visible: root.isUser && !root.editing
            Layout.alignment: Qt.AlignRight
            Layout.maximumWidth: root.width * 0.8
            implicitWidth: Math.min(userText.implicitWidth + 28, root.width * 0.8)
            implicitHeight: userText.implicitHeight + 20
            radius: 16
            color: Theme.userBubble
            TextEdit {
                id: userText
                anchors.fill: parent
                anchors.margins: 10
                anchors.leftMargin: 14
                anchors.rightMargin: 14
                text: root.content
                readOnly: true
                selectByMouse: true
                wrapMode: Text.Wrap
                color: Theme.text
                font.pixelSize: Theme.fontSize
                Accessible.name: qsTr("Your message")
            }
        }
        RowLayout {
            visible: root.isUser && !root.editing
            Layout.alignment: Qt.AlignRight
            IconButton { text: qsTr("Edit"); Accessible.name: qsTr("Edit and resend"); enabled: !App.chat.busy
                         onClicked: { editArea.text = root.content; root.editing = true } }
            IconButton { text: qsTr("Copy"); Accessible.name: qsTr("Copy message"); onClicked: App.copyText(root.content) }
        }
        // Edit-and-resend
        Rectangle {
            visible: root.editing
            Layout.fillWidth: true
            implicitHeight: editColumn.implicitHeight + 16
            radius: 12
            color: Theme.surface
            border.color: Theme.accent
            ColumnLayout {
                id: editColumn
                anchors.fill: parent
                anchors.margins: 8
                TextArea {
                    id: editArea
                    Layout.fillWidth: true
                    wrapMode: TextEdit.Wrap
                    color: Theme.text
                    background: null
                    Accessible.name: qsTr("Edited message")
                }
                RowLayout {
                    Layout.alignment: Qt.AlignRight
                    IconButton { text: qsTr("Cancel"); onClicked: root.editing = false }
                    IconButton { text: qsTr("Send"); primary: true
                                 onClicked: { if (App.chat.editAndResend(root.index, editArea.text)) root.editing = false } }
                }
            }
        }

        // --- assistant ---
        RowLayout {
            visible: !root.isUser
            Layout.fillWidth: true
            spacing: 12
            Rectangle {
                Layout.alignment: Qt.AlignTop
                width: 28; height: 28; radius: 14
                color: Theme.accent
                Label { anchors.centerIn: parent; text: "H"; color: Theme.accentText; font.bold: true }
            }
            ColumnLayout {
                Layout.fillWidth: true
                spacing: 8

                ThinkingBlock {
                    Layout.fillWidth: true
                    visible: root.thinking.length > 0
                    text: root.thinking
                    live: root.streaming && root.content.length === 0
                }

                Repeater {
                    model: root.isUser ? [] : root.blocks
                    delegate: Loader {
                        required property var modelData
                        Layout.fillWidth: true
                        sourceComponent: modelData.code ? codeComponent : proseComponent
                        property var block: modelData
                    }
                }
                Label {
                    visible: root.streaming && root.content.length === 0 && root.thinking.length === 0
                    text: "●  ●  ●"
                    color: Theme.textMuted
                    SequentialAnimation on opacity {
                        running: root.streaming; loops: Animation.Infinite
                        NumberAnimation { to: 0.3; duration: 500 } NumberAnimation { to: 1; duration: 500 }
                    }
                }

                RowLayout {
                    visible: !root.streaming
                    spacing: 4
                    Label {
                        objectName: "messageStats"
                        text: (root.state === "cancelled" ? qsTr("stopped · ") : (root.state === "interrupted" ? qsTr("interrupted · ") : ""))
                              + qsTr("%1 tokens · %2 tok/s · first token %3 s%4")
                                .arg(root.tokens).arg(root.tokensPerSecond.toFixed(1)).arg(root.ttft.toFixed(2))
                                .arg(root.kvMode.length ? " · KV " + root.kvMode.toUpperCase() : "")
                        color: root.state === "error" ? Theme.danger : Theme.textMuted
                        font.pixelSize: 11
                    }
                    Item { Layout.fillWidth: true }
                    IconButton { text: qsTr("Copy"); Accessible.name: qsTr("Copy reply"); onClicked: App.copyText(root.content) }
                    IconButton {
                        visible: root.index === App.messages.count - 1
                        enabled: !App.chat.busy
                        text: qsTr("Regenerate")
                        Accessible.name: qsTr("Regenerate reply")
                        onClicked: App.chat.regenerate()
                    }
                }
            }
        }
    }

    Component {
        id: proseComponent
        TextEdit {
            text: block.text
            textFormat: TextEdit.MarkdownText
            readOnly: true
            selectByMouse: true
            wrapMode: Text.Wrap
            color: Theme.text
            selectionColor: Theme.accent
            font.pixelSize: Theme.fontSize
            onLinkActivated: (link) => Qt.openUrlExternally(link)
            Accessible.name: qsTr("Reply text")
        }
    }
    Component {
        id: codeComponent
        CodeBlock { code: block.text; language: block.language }
    }
}
