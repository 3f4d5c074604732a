import QtQuick
import HlwqChat
import QtQuick.Controls
import QtQuick.Layouts

// Per-chat system prompt and the sampling settings (shared by all chats).
Popup {
    id: root
    modal: true
    anchors.centerIn: Overlay.overlay
    width: 460
    padding: 20
    background: Rectangle { radius: 14; color: Theme.surface; border.color: Theme.border }

    component SliderRow: RowLayout {
        property alias label: name.text
        property alias from: slider.from
        property alias to: slider.to
        property alias stepSize: slider.stepSize
        property alias value: slider.value
        property int decimals: 2
        signal moved(real v)
        Layout.fillWidth: true
        Label { id: name; color: Theme.text; Layout.preferredWidth: 120 }
        Slider { id: slider; Layout.fillWidth: true; onMoved: parent.moved(value); Accessible.name: name.text }
        Label { text: slider.value.toFixed(parent.decimals); color: Theme.textMuted; Layout.preferredWidth: 48 }
    }

    ColumnLayout {
        anchors.fill: parent
        spacing: 12
        Label { text: qsTr("Chat settings"); font.pixelSize: 18; font.bold: true; color: Theme.text }
        Label { text: qsTr("System prompt (this chat)"); color: Theme.textMuted }
        TextArea {
            id: system
            objectName: "systemPromptInput"
            Layout.fillWidth: true
            Layout.preferredHeight: 90
            wrapMode: TextEdit.Wrap
            text: App.chat.systemPrompt
            placeholderText: qsTr("You are a helpful assistant.")
            color: Theme.text
            Accessible.name: qsTr("System prompt")
            background: Rectangle { radius: 8; color: Theme.surfaceAlt; border.color: system.activeFocus ? Theme.accent : Theme.border }
        }
        RowLayout {
            Label { text: qsTr("Thinking"); color: Theme.text; Layout.preferredWidth: 120 }
            Switch { checked: App.chat.thinkingEnabled; onToggled: App.chat.thinkingEnabled = checked; Accessible.name: qsTr("Thinking") }
        }
        SliderRow { label: qsTr("Temperature"); from: 0; to: 2; stepSize: 0.05; value: App.chat.temperature
                    onMoved: (v) => App.chat.temperature = v }
        SliderRow { label: qsTr("Top-p"); from: 0; to: 1; stepSize: 0.01; value: App.chat.topP
                    onMoved: (v) => App.chat.topP = v }
        SliderRow { label: qsTr("Top-k"); from: 0; to: 100; stepSize: 1; decimals: 0; value: App.chat.topK
                    onMoved: (v) => App.chat.topK = Math.round(v) }
        SliderRow { label: qsTr("Max new tokens"); from: 64; to: 8192; stepSize: 64; decimals: 0; value: App.chat.maxNewTokens
                    onMoved: (v) => App.chat.maxNewTokens = Math.round(v) }
        RowLayout {
            Layout.alignment: Qt.AlignRight
            IconButton { text: qsTr("Cancel"); onClicked: root.close() }
            IconButton { text: qsTr("Save"); primary: true
                         onClicked: { if (system.text !== App.chat.systemPrompt) App.chat.systemPrompt = system.text; root.close() } }
        }
    }
}
