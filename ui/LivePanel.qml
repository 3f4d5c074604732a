import QtQuick
import HlwqChat
import QtQuick.Controls
import QtQuick.Layouts

// The live panel: where VRAM goes, the KV mode and what it saves, context and speed.
Rectangle {
    id: root
    color: Theme.sidebar
    readonly property var s: App.stats

    Rectangle { anchors.left: parent.left; width: 1; height: parent.height; color: Theme.border }

    component Card: Rectangle {
        default property alias content: inner.data
        property string title
        Layout.fillWidth: true
        implicitHeight: inner.implicitHeight + 40
        radius: Theme.radius
        color: Theme.surface
        border.color: Theme.border
        Label { x: 12; y: 10; width: parent.width - 24; elide: Text.ElideRight; text: parent.title; font.pixelSize: 11; font.bold: true; font.capitalization: Font.AllUppercase
                color: Theme.textMuted; font.letterSpacing: 0.6 }
        ColumnLayout { id: inner; x: 12; y: 30; width: parent.width - 24; spacing: 6 }
    }
    component Stat: ColumnLayout {
        property alias label: l.text
        property alias value: v.text
        spacing: 0
        Label { id: v; color: Theme.text; font.pixelSize: 15; font.weight: Font.DemiBold }
        Label { id: l; color: Theme.textMuted; font.pixelSize: 10 }
    }

    ScrollView {
        anchors.fill: parent
        anchors.margins: 12
        contentWidth: availableWidth
        ColumnLayout {
            width: parent.width
            spacing: 12

            Card {
                title: App.models.loaded && root.s.backend.toUpperCase() !== "CPU" ? qsTr("VRAM · %1").arg(root.s.device)
                                                                                : qsTr("Memory · CPU")
                RowLayout {
                    Layout.fillWidth: true
                    visible: root.s.deviceTotal > 0
                    Stat { Layout.fillWidth: true; label: qsTr("used"); value: App.formatBytes(root.s.deviceUsed) }
                    Stat { Layout.fillWidth: true; label: qsTr("free"); value: App.formatBytes(root.s.deviceFree) }
                    Stat { Layout.fillWidth: true; label: qsTr("total"); value: App.formatBytes(root.s.deviceTotal) }
                }
                Label {
                    visible: root.s.deviceTotal <= 0
                    text: App.models.loaded ? qsTr("Running on the CPU: engine memory %1").arg(App.formatBytes(root.s.engineBytes))
                                            : qsTr("No model loaded")
                    color: Theme.textMuted; font.pixelSize: 12; wrapMode: Text.Wrap; Layout.fillWidth: true
                }
                VramBar {
                    Layout.fillWidth: true
                    segments: root.s.breakdown
                    total: root.s.deviceTotal
                    used: root.s.deviceUsed
                }
            }

            Card {
                title: qsTr("KV cache")
                RowLayout {
                    id: kvModes
                    objectName: "kvModeToggle"
                    Layout.fillWidth: true
                    spacing: 0
                    Repeater {
                        model: root.s.kvModes
                        Button {
                            id: modeButton
                            required property string modelData
                            required property int index
                            objectName: "kvMode_" + modelData
                            Layout.fillWidth: true
                            implicitHeight: 30
                            text: modelData.toUpperCase()
                            checkable: true
                            checked: root.s.kvMode === modelData
                            enabled: App.models.loaded && !root.s.kvSwitching
                            Accessible.name: qsTr("KV cache %1").arg(text)
                            onClicked: root.s.kvMode = modelData
                            contentItem: Text { text: modeButton.text; font.pixelSize: 12; font.bold: modeButton.checked
                                                color: modeButton.checked ? Theme.accentText : Theme.text
                                                horizontalAlignment: Text.AlignHCenter; verticalAlignment: Text.AlignVCenter }
                            background: Rectangle {
                                color: modeButton.checked ? Theme.accent : (modeButton.hovered ? Theme.surfaceAlt : Theme.surface)
                                border.color: Theme.border
                                radius: index === 0 || index === 3 ? 7 : 0
                            }
                        }
                    }
                }
                RowLayout {
                    Layout.fillWidth: true
                    Stat { Layout.fillWidth: true; label: qsTr("in use"); value: App.formatBytes(root.s.kvUsedBytes) }
                    Stat { Layout.fillWidth: true; label: qsTr("at FP16"); value: App.formatBytes(root.s.kvUsedFp16Bytes) }
                    Stat { objectName: "kvRatio"; Layout.fillWidth: true; label: qsTr("smaller"); value: root.s.kvRatio.toFixed(2) + "×" }
                }
                Label {
                    text: qsTr("Allocated for %1 tokens: %2").arg(root.s.contextMax).arg(App.formatBytes(root.s.kvCacheBytes))
                    color: Theme.textMuted; font.pixelSize: 11
                }
                KvChart { Layout.fillWidth: true; points: root.s.kvHistory }
                RowLayout {
                    spacing: 12
                    RowLayout { spacing: 4; Rectangle { width: 14; height: 3; color: Theme.kvCurrent }
                                Label { text: root.s.kvMode.toUpperCase(); color: Theme.textMuted; font.pixelSize: 10 } }
                    RowLayout { spacing: 4; Rectangle { width: 14; height: 2; color: Theme.kvFp16 }
                                Label { text: qsTr("FP16 would take"); color: Theme.textMuted; font.pixelSize: 10 } }
                }
            }

            Card {
                title: qsTr("Context and speed")
                RowLayout {
                    Layout.fillWidth: true
                    Stat { Layout.fillWidth: true; label: qsTr("context used / max")
                           value: root.s.contextUsed + " / " + root.s.contextMax }
                    Stat { objectName: "tokensPerSecond"; Layout.fillWidth: true; label: qsTr("tokens/s"); value: root.s.tokensPerSecond.toFixed(1) }
                }
                ProgressBar {
                    Layout.fillWidth: true
                    from: 0; to: Math.max(1, root.s.contextMax); value: root.s.contextUsed
                    Accessible.name: qsTr("Context used")
                }
            }
        }
    }
}
