import QtQuick
import HlwqChat
import QtQuick.Controls
import QtQuick.Layouts

// Conversations (new, search, rename, delete) and the page switcher.
Rectangle {
    id: root
    color: Theme.sidebar
    property string page: "chat"
    signal pageRequested(string page)

    Rectangle { anchors.right: parent.right; width: 1; height: parent.height; color: Theme.border }

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: 12
        spacing: 10

        RowLayout {
            spacing: 10
            Layout.topMargin: 4
            Image {
                source: "qrc:/qt/qml/HlwqChat/icon.svg"
                sourceSize: Qt.size(30, 30)
                Layout.preferredWidth: 30
                Layout.preferredHeight: 30
            }
            Label {
                text: "HLWQ Chat"
                font.pixelSize: 18
                font.bold: true
                color: Theme.text
                Layout.fillWidth: true
            }
        }

        Button {
            id: newChat
            objectName: "newChatButton"
            Layout.fillWidth: true
            text: qsTr("+  New chat")
            Accessible.name: qsTr("New chat")
            ToolTip.visible: hovered
            ToolTip.text: qsTr("New chat (Ctrl+N)")
            onClicked: { root.pageRequested("chat"); App.chat.newChat() }
            contentItem: Text { text: newChat.text; color: Theme.accentText; font.pixelSize: 14; font.bold: true
                                horizontalAlignment: Text.AlignHCenter; verticalAlignment: Text.AlignVCenter }
            background: Rectangle { radius: 9; color: newChat.down ? Qt.darker(Theme.accent, 1.2) : Theme.accent }
            implicitHeight: 38
        }

        TextField {
            id: search
            objectName: "searchField"
            Layout.fillWidth: true
            placeholderText: qsTr("Search chats")
            Accessible.name: qsTr("Search chats")
            color: Theme.text
            placeholderTextColor: Theme.textMuted
            text: App.conversations.search
            onTextChanged: App.conversations.search = text
            background: Rectangle { radius: 8; color: Theme.surface; border.color: search.activeFocus ? Theme.accent : Theme.border }
        }

        ListView {
            id: list
            objectName: "conversationList"
            Layout.fillWidth: true
            Layout.fillHeight: true
            clip: true
            spacing: 2
            model: App.conversations
            Accessible.name: qsTr("Conversations")
            ScrollBar.vertical: ScrollBar {}
            delegate: Rectangle {
                id: row
                required property int index
                required property var chatId
                required property string title
                property bool current: chatId == App.chat.currentChatId && root.page === "chat"
                property bool editing: false
                width: ListView.view.width
                height: 40
                radius: 8
                color: current ? Theme.surface : (mouse.containsMouse ? Qt.rgba(0.5, 0.5, 0.5, 0.10) : "transparent")
                border.color: current ? Theme.border : "transparent"

                MouseArea {
                    id: mouse
                    anchors.fill: parent
                    hoverEnabled: true
                    acceptedButtons: Qt.LeftButton | Qt.RightButton
                    onClicked: (e) => {
                        if (e.button === Qt.RightButton) { menu.popup(); return }
                        root.pageRequested("chat"); App.chat.selectChat(row.chatId)
                    }
                    onDoubleClicked: row.editing = true
                }
                Label {
                    visible: !row.editing
                    anchors.left: parent.left
                    anchors.right: more.left
                    anchors.leftMargin: 12
                    anchors.verticalCenter: parent.verticalCenter
                    text: row.title
                    elide: Text.ElideRight
                    color: Theme.text
                    font.pixelSize: 13
                    font.weight: row.current ? Font.DemiBold : Font.Normal
                }
                TextField {
                    id: renameField
                    visible: row.editing
                    anchors.fill: parent
                    anchors.margins: 3
                    text: row.title
                    color: Theme.text
                    Accessible.name: qsTr("Chat title")
                    onVisibleChanged: if (visible) { forceActiveFocus(); selectAll() }
                    onAccepted: { App.chat.renameChat(row.chatId, text); row.editing = false }
                    Keys.onEscapePressed: row.editing = false
                    onActiveFocusChanged: if (!activeFocus) row.editing = false
                    background: Rectangle { radius: 6; color: Theme.surface; border.color: Theme.accent }
                }
                IconButton {
                    id: more
                    visible: (mouse.containsMouse || hovered || row.current) && !row.editing
                    anchors.right: parent.right
                    anchors.verticalCenter: parent.verticalCenter
                    text: "⋯"
                    Accessible.name: qsTr("Chat actions")
                    onClicked: menu.popup()
                }
                Menu {
                    id: menu
                    MenuItem { text: qsTr("Rename"); onTriggered: row.editing = true }
                    MenuItem { text: qsTr("Delete"); onTriggered: App.chat.deleteChat(row.chatId) }
                }
            }
            Label {
                anchors.centerIn: parent
                visible: list.count === 0
                text: search.text.length ? qsTr("No chat matches") : qsTr("No chats yet")
                color: Theme.textMuted
            }
        }

        Rectangle { Layout.fillWidth: true; height: 1; color: Theme.border }

        Repeater {
            model: [
                { key: "chat", label: qsTr("Chat") },
                { key: "models", label: qsTr("Models") },
                { key: "fit", label: qsTr("Will it fit?") }
            ]
            delegate: IconButton {
                required property var modelData
                Layout.fillWidth: true
                text: modelData.label
                fg: root.page === modelData.key ? Theme.accent : Theme.text
                font.bold: root.page === modelData.key
                onClicked: root.pageRequested(modelData.key)
                contentItem: Text { text: parent.text; font: parent.font; color: parent.fg; leftPadding: 4
                                    verticalAlignment: Text.AlignVCenter }
            }
        }

        // What runs, at a glance: the model and where (GPU name, or CPU clearly labelled).
        Rectangle {
            Layout.fillWidth: true
            implicitHeight: status.implicitHeight + 16
            radius: 8
            color: Theme.surface
            border.color: Theme.border
            ColumnLayout {
                id: status
                anchors.fill: parent
                anchors.margins: 8
                spacing: 2
                RowLayout {
                    Rectangle {
                        width: 8; height: 8; radius: 4
                        color: App.models.loaded ? Theme.ok : (App.models.loading ? Theme.warn : Theme.danger)
                    }
                    Label {
                        Layout.fillWidth: true
                        text: App.models.loaded ? App.models.activeName
                              : (App.models.loading ? qsTr("Loading… %1%").arg(Math.round(App.models.progress * 100))
                                                    : qsTr("No model loaded"))
                        elide: Text.ElideRight
                        color: Theme.text
                        font.pixelSize: 12
                        font.bold: true
                    }
                }
                Label {
                    objectName: "backendLabel"
                    Layout.fillWidth: true
                    visible: App.models.loaded
                    text: App.models.backendLabel
                    elide: Text.ElideRight
                    color: Theme.textMuted
                    font.pixelSize: 11
                }
            }
        }
    }
}
