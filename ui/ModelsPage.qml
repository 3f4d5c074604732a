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
                            Label {  // the user chose "auto" and has a GPU we could not use: say why
                                objectName: "gpuUnused"
                                visible: App.models.loaded && App.stats.gpuUnused !== ""
                                Layout.fillWidth: true
                                wrapMode: Text.Wrap
                                text: qsTr("GPU not used: %1").arg(App.stats.gpuUnused)
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

            // --- Download from the Hugging Face Hub (hlwq_hub) ---
            RowLayout {
                visible: !!App.hub
                Layout.fillWidth: true
                Layout.topMargin: 8
                Label { text: qsTr("Get models"); font.pixelSize: 17; font.bold: true; color: Theme.text; Layout.fillWidth: true }
                TextField {
                    id: hubQuery
                    Layout.preferredWidth: 260
                    placeholderText: qsTr("Search the Hub")
                    color: Theme.text
                    placeholderTextColor: Theme.textMuted
                    Accessible.name: qsTr("Search the Hub")
                    onAccepted: App.hub.browse(text)
                    background: Rectangle { radius: 8; color: Theme.surface; border.color: hubQuery.activeFocus ? Theme.accent : Theme.border }
                }
                IconButton {
                    text: App.hub && App.hub.browsing ? qsTr("Checking…") : qsTr("Search and check fit")
                    enabled: App.hub && !App.hub.browsing
                    onClicked: App.hub.browse(hubQuery.text)
                }
            }

            // The transfer in progress
            Rectangle {
                visible: !!App.hub && (App.hub.downloading || App.hub.error.length > 0)
                Layout.fillWidth: true
                implicitHeight: dl.implicitHeight + 24
                radius: Theme.radius
                color: Theme.surface
                border.color: App.hub && App.hub.error.length ? Theme.danger : Theme.accent
                ColumnLayout {
                    id: dl
                    anchors.fill: parent
                    anchors.margins: 12
                    spacing: 6
                    readonly property var p: App.hub ? App.hub.progress : ({})
                    RowLayout {
                        Layout.fillWidth: true
                        Label {
                            Layout.fillWidth: true
                            text: App.hub && App.hub.downloading
                                  ? qsTr("Downloading %1").arg(App.hub.downloadTitle) + (App.hub.paused ? qsTr(" (paused)") : "")
                                  : qsTr("Download stopped")
                            font.bold: true; color: Theme.text
                        }
                        IconButton { visible: App.hub && App.hub.downloading; text: App.hub && App.hub.paused ? qsTr("Resume") : qsTr("Pause")
                                     onClicked: App.hub.paused ? App.hub.resume() : App.hub.pause() }
                        IconButton { visible: App.hub && App.hub.downloading; text: qsTr("Cancel"); onClicked: App.hub.cancel() }
                    }
                    ProgressBar {
                        visible: App.hub && App.hub.downloading
                        Layout.fillWidth: true
                        value: dl.p.total > 0 ? dl.p.done / dl.p.total : 0
                        Accessible.name: qsTr("Download progress")
                    }
                    Label {
                        visible: App.hub && App.hub.downloading && dl.p.total > 0
                        text: qsTr("%1 of %2 · %3/s · %4 left").arg(App.formatBytes(dl.p.done || 0)).arg(App.formatBytes(dl.p.total || 0))
                              .arg(App.formatBytes(dl.p.speed || 0))
                              .arg(dl.p.eta >= 0 ? Math.round(dl.p.eta / 60) + " min" : "…")
                        color: Theme.textMuted; font.pixelSize: 11
                    }
                    Repeater {
                        model: dl.p.files || []
                        RowLayout {
                            required property var modelData
                            Layout.fillWidth: true
                            Label { text: modelData.path; color: Theme.text; font.pixelSize: 11; elide: Text.ElideMiddle; Layout.fillWidth: true }
                            Label { text: modelData.state + (modelData.total > 0 ? " " + Math.round(100 * modelData.done / modelData.total) + "%" : "")
                                    color: Theme.textMuted; font.pixelSize: 11 }
                        }
                    }
                    Label {
                        visible: App.hub && App.hub.error.length > 0
                        Layout.fillWidth: true
                        wrapMode: Text.Wrap
                        text: App.hub ? App.hub.error : ""
                        color: Theme.danger
                    }
                }
            }

            Repeater {
                model: App.hub ? App.hub.catalog : []
                Rectangle {
                    id: catRow
                    required property var modelData
                    required property int index
                    Layout.fillWidth: true
                    implicitHeight: cat.implicitHeight + 24
                    radius: Theme.radius
                    color: Theme.surface
                    border.color: Theme.border
                    readonly property color fitColor: modelData.fit === "fits" ? Theme.ok
                                                      : (modelData.fit === "tight" ? Theme.warn
                                                      : (modelData.fit === "does not fit" ? Theme.danger : Theme.textMuted))
                    RowLayout {
                        id: cat
                        anchors.fill: parent
                        anchors.margins: 12
                        spacing: 12
                        ColumnLayout {
                            Layout.fillWidth: true
                            spacing: 2
                            RowLayout {
                                Label { text: modelData.title; font.pixelSize: 14; font.weight: Font.DemiBold; color: Theme.text }
                                Rectangle {
                                    radius: 9; height: 18; implicitWidth: fitLabel.implicitWidth + 14
                                    color: "transparent"; border.color: catRow.fitColor
                                    Label { id: fitLabel; anchors.centerIn: parent; font.pixelSize: 10; font.bold: true
                                            color: parent.border.color
                                            text: modelData.fit === "unknown" ? qsTr("fit: ?") : modelData.fit }
                                    ToolTip.visible: fitMouse.containsMouse && modelData.fitDetail.length > 0
                                    ToolTip.text: modelData.fitDetail
                                    MouseArea { id: fitMouse; anchors.fill: parent; hoverEnabled: true }
                                }
                            }
                            Label {
                                Layout.fillWidth: true
                                elide: Text.ElideRight
                                text: modelData.repo + " · " + modelData.format
                                      + (modelData.downloadBytes > 0 ? " · " + App.formatBytes(modelData.downloadBytes) : "")
                                      + (modelData.quantizeBits > 0 ? qsTr(" → Q%1 while downloading").arg(modelData.quantizeBits) : "")
                                      + (modelData.license.length ? " · " + modelData.license : "")
                                      + (modelData.gated !== "false" ? qsTr(" · gated") : "")
                                color: Theme.textMuted; font.pixelSize: 11
                            }
                        }
                        IconButton {
                            text: modelData.loadable ? qsTr("Download") : qsTr("Not loadable")
                            enabled: modelData.loadable && App.hub && !App.hub.downloading
                            primary: enabled
                            Accessible.name: qsTr("Download %1").arg(modelData.title)
                            onClicked: App.hub.download(index)
                        }
                    }
                }
            }
            Item { height: 12 }
        }
    }
}
