import QtQuick
import HlwqChat
import QtQuick.Controls
import QtQuick.Layouts

ApplicationWindow {
    id: window
    width: 1280
    height: 820
    minimumWidth: 900
    minimumHeight: 560
    visible: true
    title: qsTr("HLWQ Chat")
    color: Theme.window

    // "chat", "models" or "fit"; the app starts on the model manager when nothing is installed.
    property string page: App.startPage
    property bool panelVisible: true

    Shortcut {
        sequence: "Ctrl+N"
        onActivated: { window.page = "chat"; App.chat.newChat(); chatView.focusComposer() }
    }
    Shortcut {
        sequence: "Esc"
        enabled: App.chat.busy
        onActivated: App.chat.stop()
    }

    RowLayout {
        anchors.fill: parent
        spacing: 0

        Sidebar {
            id: sidebar
            Layout.fillHeight: true
            Layout.preferredWidth: 264
            page: window.page
            onPageRequested: (p) => window.page = p
        }

        StackLayout {
            Layout.fillWidth: true
            Layout.fillHeight: true
            currentIndex: window.page === "models" ? 1 : (window.page === "fit" ? 2 : 0)

            ChatView {
                id: chatView
                panelVisible: window.panelVisible
                onTogglePanel: window.panelVisible = !window.panelVisible
                onOpenModels: window.page = "models"
            }
            ModelsPage {}
            FitPage {}
        }

        LivePanel {
            Layout.fillHeight: true
            Layout.preferredWidth: 320
            visible: window.panelVisible && window.page === "chat"
        }
    }
}
