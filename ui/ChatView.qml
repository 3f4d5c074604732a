import QtQuick
import HlwqChat
import QtQuick.Controls
import QtQuick.Layouts

// The open conversation: header, messages, composer.
Rectangle {
    id: root
    color: Theme.window
    property bool panelVisible: true
    signal togglePanel()
    signal openModels()
    function focusComposer() { composer.focusInput() }

    ColumnLayout {
        anchors.fill: parent
        spacing: 0

        // Header
        Rectangle {
            Layout.fillWidth: true
            Layout.preferredHeight: 56
            color: Theme.window
            Rectangle { anchors.bottom: parent.bottom; width: parent.width; height: 1; color: Theme.border }
            RowLayout {
                anchors.fill: parent
                anchors.leftMargin: 20
                anchors.rightMargin: 12
                spacing: 8
                Label {
                    objectName: "chatTitle"
                    Layout.fillWidth: true
                    text: App.chat.currentTitle.length ? App.chat.currentTitle : qsTr("New conversation")
                    font.pixelSize: 16
                    font.weight: Font.DemiBold
                    color: Theme.text
                    elide: Text.ElideRight
                }
                Rectangle {
                    visible: App.chat.systemPrompt.length > 0
                    radius: 10; color: Theme.surfaceAlt
                    implicitWidth: sysLabel.implicitWidth + 16; implicitHeight: 22
                    Label { id: sysLabel; anchors.centerIn: parent; text: qsTr("system prompt"); font.pixelSize: 11; color: Theme.textMuted }
                }
                IconButton {
                    text: qsTr("Settings")
                    Accessible.name: qsTr("Chat settings")
                    onClicked: settings.open()
                }
                IconButton {
                    text: qsTr("Export")
                    Accessible.name: qsTr("Export chat")
                    enabled: App.chat.currentChatId > 0
                    onClicked: exportMenu.popup()
                    Menu {
                        id: exportMenu
                        MenuItem { text: qsTr("Copy as Markdown"); onTriggered: App.copyText(App.chat.exportMarkdown()) }
                        MenuItem { text: qsTr("Copy as JSON"); onTriggered: App.copyText(App.chat.exportJson()) }
                    }
                }
                IconButton {
                    text: root.panelVisible ? qsTr("Hide stats") : qsTr("Show stats")
                    Accessible.name: qsTr("Toggle the live panel")
                    onClicked: root.togglePanel()
                }
            }
        }

        // Messages, or a welcome when the chat is empty.
        Item {
            Layout.fillWidth: true
            Layout.fillHeight: true

            ListView {
                id: messages
                objectName: "messageList"
                anchors.fill: parent
                clip: true
                model: App.messages
                spacing: 18
                topMargin: 20
                bottomMargin: 20
                Accessible.name: qsTr("Messages")
                ScrollBar.vertical: ScrollBar {}
                // Follow a streaming reply unless the user scrolled up to read.
                property bool follow: true
                onMovementEnded: follow = atYEnd
                onCountChanged: { follow = true; Qt.callLater(positionViewAtEnd) }
                onContentHeightChanged: if (follow) Qt.callLater(positionViewAtEnd)
                delegate: MessageBubble {
                    width: Math.min(messages.width - 48, 860)
                    x: (messages.width - width) / 2
                }
            }

            Column {
                visible: App.messages.count === 0
                anchors.centerIn: parent
                spacing: 10
                Label {
                    anchors.horizontalCenter: parent.horizontalCenter
                    text: App.models.loaded ? qsTr("What can I help with?") : qsTr("No model loaded")
                    font.pixelSize: 26; font.weight: Font.DemiBold; color: Theme.text
                }
                Label {
                    anchors.horizontalCenter: parent.horizontalCenter
                    text: App.models.loaded ? qsTr("%1 on %2").arg(App.models.activeName).arg(App.models.backendLabel)
                                            : (App.models.loading ? qsTr("Loading the model… %1%").arg(Math.round(App.models.progress * 100))
                                                                  : qsTr("Load a model to start chatting."))
                    color: Theme.textMuted
                }
                IconButton {
                    anchors.horizontalCenter: parent.horizontalCenter
                    visible: !App.models.loaded && !App.models.loading
                    primary: true
                    text: qsTr("Open the model manager")
                    onClicked: root.openModels()
                }
            }
        }

        Label {
            visible: App.chat.lastError.length > 0
            Layout.fillWidth: true
            Layout.leftMargin: 24
            Layout.rightMargin: 24
            text: App.chat.lastError
            color: Theme.danger
            wrapMode: Text.Wrap
        }

        Composer {
            id: composer
            Layout.fillWidth: true
            Layout.maximumWidth: 900
            Layout.alignment: Qt.AlignHCenter
            Layout.margins: 16
        }
    }

    ChatSettings { id: settings }
}
