import QtQuick
import HlwqChat
import QtQuick.Controls
import QtQuick.Layouts

// "Will it fit?": the VRAM planner's answer for a model, a GPU, a context and a KV mode,
// before anything is loaded or downloaded. Without the planner: the loaded model's numbers.
Rectangle {
    id: root
    color: Theme.window
    readonly property var fit: App.fit
    readonly property var r: fit ? fit.result : ({})
    readonly property var contexts: [4096, 8192, 16384, 32768, 65536, 131072, 262144]

    function evaluate() { if (fit) fit.evaluate() }
    Component.onCompleted: {
        if (fit && fit.modelPath === "" && App.models.installed.length > 0) fit.modelPath = App.models.installed[0].path
        evaluate()
    }
    Connections { target: root.fit; function onInputsChanged() { root.evaluate() } }

    ScrollView {
        anchors.fill: parent
        contentWidth: availableWidth
        ColumnLayout {
            width: Math.min(parent.width - 48, 940)
            x: (parent.width - width) / 2
            spacing: 14
            Item { height: 10 }
            Label { text: qsTr("Will it fit?"); font.pixelSize: 24; font.bold: true; color: Theme.text }
            Label {
                visible: !root.fit
                Layout.fillWidth: true
                wrapMode: Text.Wrap
                color: Theme.textMuted
                text: qsTr("This build has no VRAM planner; the live panel shows the loaded model's memory.")
            }

            // Inputs
            GridLayout {
                visible: !!root.fit
                Layout.fillWidth: true
                columns: 4
                columnSpacing: 12
                rowSpacing: 4
                Label { text: qsTr("Model"); color: Theme.textMuted; font.pixelSize: 11 }
                Label { text: qsTr("GPU"); color: Theme.textMuted; font.pixelSize: 11 }
                Label { text: qsTr("Context"); color: Theme.textMuted; font.pixelSize: 11 }
                Label { text: qsTr("KV cache · weights"); color: Theme.textMuted; font.pixelSize: 11 }
                ComboBox {
                    Layout.fillWidth: true
                    model: App.models.installed.map(m => m.name)
                    currentIndex: Math.max(0, App.models.installed.findIndex(m => root.fit && m.path === root.fit.modelPath))
                    onActivated: root.fit.modelPath = App.models.installed[currentIndex].path
                    Accessible.name: qsTr("Model to check")
                }
                ComboBox {
                    Layout.fillWidth: true
                    model: root.fit ? root.fit.gpuNames : []
                    currentIndex: root.fit ? root.fit.gpuIndex : 0
                    onActivated: root.fit.gpuIndex = currentIndex
                    Accessible.name: qsTr("GPU")
                }
                ComboBox {
                    model: root.contexts.map(c => (c / 1024) + "K tokens")
                    currentIndex: Math.max(0, root.contexts.indexOf(root.fit ? root.fit.contextLength : 32768))
                    onActivated: root.fit.contextLength = root.contexts[currentIndex]
                    Accessible.name: qsTr("Context length")
                }
                RowLayout {
                    ComboBox {
                        implicitWidth: 90
                        model: ["fp16", "q4", "q3", "q2"]
                        currentIndex: Math.max(0, model.indexOf(root.fit ? root.fit.kvMode : "fp16"))
                        onActivated: root.fit.kvMode = model[currentIndex]
                        Accessible.name: qsTr("KV cache mode")
                    }
                    ComboBox {
                        implicitWidth: 80
                        model: ["Q5", "Q4", "Q3"]
                        currentIndex: root.fit ? Math.max(0, 5 - root.fit.weightBits) : 0
                        onActivated: root.fit.weightBits = 5 - currentIndex
                        Accessible.name: qsTr("Weight bits")
                    }
                }
            }

            Label {
                visible: !!root.fit && root.r.ok === false
                Layout.fillWidth: true
                wrapMode: Text.Wrap
                color: Theme.danger
                text: root.r.error || ""
            }

            // Verdict
            Rectangle {
                visible: root.r.ok === true
                Layout.fillWidth: true
                implicitHeight: verdictRow.implicitHeight + 24
                radius: Theme.radius
                color: Theme.surface
                border.color: root.r.level === "fits" ? Theme.ok : (root.r.level === "tight" ? Theme.warn : Theme.danger)
                border.width: 2
                RowLayout {
                    id: verdictRow
                    anchors.fill: parent
                    anchors.margins: 12
                    spacing: 16
                    ColumnLayout {
                        Label {
                            objectName: "fitVerdict"
                            text: (root.r.verdict || "").charAt(0).toUpperCase() + (root.r.verdict || "").slice(1)
                            font.pixelSize: 20; font.bold: true
                            color: root.r.level === "fits" ? Theme.ok : (root.r.level === "tight" ? Theme.warn : Theme.danger)
                        }
                        Label {
                            text: qsTr("needs %1 of %2 free on %3").arg(App.formatBytes(root.r.required || 0))
                                  .arg(App.formatBytes(root.r.free || 0)).arg(root.r.gpu || "")
                            color: Theme.textMuted
                        }
                    }
                    Item { Layout.fillWidth: true }
                    Repeater {
                        model: root.r.perMode || []
                        ColumnLayout {
                            required property var modelData
                            spacing: 0
                            Label { text: modelData.maxContext > 0 ? Math.floor(modelData.maxContext / 1024) + "K" : "—"
                                    font.pixelSize: 16; font.weight: Font.DemiBold; color: Theme.text }
                            Label { text: qsTr("max ctx %1").arg(modelData.mode.toUpperCase()); font.pixelSize: 10; color: Theme.textMuted }
                        }
                    }
                }
            }

            // Breakdown against the card
            VramBar {
                visible: root.r.ok === true
                Layout.fillWidth: true
                segments: (root.r.items || []).filter(i => i.bytes > 0)
                total: root.r.total || 0
                used: root.r.required || 0
            }

            Label { visible: root.r.ok === true; text: qsTr("VRAM needed by context length"); font.bold: true; color: Theme.text }
            FitChart {
                visible: root.r.ok === true
                Layout.fillWidth: true
                curves: root.r.curves || []
                free: root.r.free || 0
                total: root.r.total || 0
            }
            RowLayout {
                visible: root.r.ok === true
                spacing: 14
                Repeater {
                    model: ["fp16", "q4", "q3", "q2"]
                    RowLayout {
                        required property string modelData
                        spacing: 4
                        Rectangle { width: 14; height: 3; color: ({ "fp16": "#868e96", "q4": "#5b6cff", "q3": "#22b8cf", "q2": "#9b7bff" })[modelData] }
                        Label { text: modelData.toUpperCase(); color: Theme.textMuted; font.pixelSize: 11 }
                    }
                }
            }
            Item { height: 16 }
        }
    }
}
