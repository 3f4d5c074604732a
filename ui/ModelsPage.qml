import QtQuick
import HlwqChat
import QtQuick.Controls
import QtQuick.Layouts

// The model manager: installed models, load / unload, where the model runs.
Rectangle {
    id: root
    color: Theme.window

    ScrollView {
        anchors.fill: parent
        contentWidth: availableWidth
        ColumnLayout {
            width: Math.min(parent.width - 48, 900)
            x: (parent.width - width) / 2
            spacing: 16

            Item { height: 12 }
            Label { text: qsTr("Models"); font.pixelSize: 24; font.bold: true; color: Theme.text }

            // Active model
            Rectangle {
                Layout.fillWidth: true
                implicitHeight: active.implicitHeight + 28
                radius: Theme.radius
                color: Theme.surface
                border.color: Theme.border
                ColumnLayout {
                    id: active
                    anchors.fill: parent
                    anchors.margins: 14
                    spacing: 6
                    Label { text: qsTr("ACTIVE"); font.pixelSize: 11; font.bold: true; color: Theme.textMuted }
                    RowLayout {
                        Layout.fillWidth: true
                        ColumnLayout {
                            Layout.fillWidth: true
                            Label {
                                objectName: "activeModel"
                                text: App.models.loaded ? App.models.activeName : (App.models.loading ? qsTr("Loading…") : qsTr("No model loaded"))
                                font.pixelSize: 17; font.weight: Font.DemiBold; color: Theme.text
                            }
                            Label {
                                visible: App.models.loaded
                                text: qsTr("Running on: %1").arg(App.models.backendLabel)
                                color: Theme.textMuted
                            }
                        }
                        IconButton {
                            visible: App.models.loaded
                            text: qsTr("Unload")
                            Accessible.name: qsTr("Unload the model")
                            onClicked: App.models.unload()
                        }
                    }
                    ProgressBar {
                        visible: App.models.loading
                        Layout.fillWidth: true
                        value: App.models.progress
                        Accessible.name: qsTr("Loading progress")
                    }
                    Label { visible: App.models.loading; text: App.models.stage; color: Theme.textMuted; font.pixelSize: 11 }
                    Label {
                        visible: App.models.error.length > 0
                        Layout.fillWidth: true
                        text: App.models.error
                        color: Theme.danger
                        wrapMode: Text.Wrap
                    }
                    RowLayout {
                        spacing: 10
                        Label { text: qsTr("Context"); color: Theme.textMuted }
                        ComboBox {
                            id: ctx
                            model: [2048, 4096, 8192, 16384, 32768, 65536, 131072]
                            currentIndex: Math.max(0, model.indexOf(App.models.contextLength))
                            onActivated: App.models.contextLength = model[currentIndex]
                            Accessible.name: qsTr("Context length")
                        }
                        Label { text: qsTr("Backend"); color: Theme.textMuted }
                        ComboBox {
                            model: ["auto", "cuda", "cpu"]
                            currentIndex: Math.max(0, model.indexOf(App.models.backendChoice))
                            onActivated: App.models.backendChoice = model[currentIndex]
                            Accessible.name: qsTr("Backend")
                        }
                        Label { text: qsTr("applies on the next load"); color: Theme.textMuted; font.pixelSize: 11 }
                    }
                }
            }

            RowLayout {
                Layout.fillWidth: true
                Label { text: qsTr("Installed"); font.pixelSize: 17; font.bold: true; color: Theme.text; Layout.fillWidth: true }
                IconButton { text: qsTr("Rescan"); onClicked: App.models.refresh() }
            }
            Label {
                visible: App.models.installed.length === 0
                Layout.fillWidth: true
                wrapMode: Text.Wrap
                color: Theme.textMuted
                text: qsTr("No model is installed yet. Download one with `hlwq download REPO` or put a model folder in %1.")
                      .arg("~/.local/share/hlwq/hlwq-chat/models")
            }
            Repeater {
                model: App.models.installed
                Rectangle {
                    required property var modelData
                    readonly property bool isActive: App.models.loaded && App.models.activePath === modelData.path
                    Layout.fillWidth: true
                    implicitHeight: 64
                    radius: Theme.radius
                    color: Theme.surface
                    border.color: isActive ? Theme.accent : Theme.border
                    RowLayout {
                        anchors.fill: parent
                        anchors.margins: 14
                        ColumnLayout {
                            Layout.fillWidth: true
                            spacing: 2
                            Label { text: modelData.name; font.pixelSize: 14; font.weight: Font.DemiBold; color: Theme.text }
                            Label { text: App.formatBytes(modelData.bytes) + " · " + modelData.source + " · " + modelData.path
                                    color: Theme.textMuted; font.pixelSize: 11; elide: Text.ElideMiddle; Layout.fillWidth: true }
                        }
                        IconButton {
                            primary: !isActive
                            enabled: !App.models.loading && !isActive
                            text: isActive ? qsTr("Loaded") : qsTr("Load")
                            Accessible.name: qsTr("Load %1").arg(modelData.name)
                            onClicked: App.models.load(modelData.path)
                        }
                    }
                }
            }
            Item { height: 12 }
        }
    }
}
