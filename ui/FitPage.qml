import QtQuick
import HlwqChat
import QtQuick.Controls
import QtQuick.Layouts

// "Will it fit?": the KV cache a context costs in each mode, from the engine's live numbers.
// The full planner (engine/planner) answers for models that are not loaded.
Rectangle {
    id: root
    color: Theme.window
    readonly property var s: App.stats
    // Bytes per token of the loaded model's KV cache in the current mode.
    readonly property double perToken: s.contextMax > 0 ? s.kvCacheBytes / s.contextMax : 0
    readonly property double fixedBytes: s.engineBytes - s.kvCacheBytes

    ColumnLayout {
        width: Math.min(parent.width - 48, 900)
        x: (parent.width - width) / 2
        y: 24
        spacing: 14
        Label { text: qsTr("Will it fit?"); font.pixelSize: 24; font.bold: true; color: Theme.text }
        Label {
            Layout.fillWidth: true
            wrapMode: Text.Wrap
            color: Theme.textMuted
            text: App.models.loaded
                  ? qsTr("%1 on %2: weights and buffers take %3; the KV cache for %4 tokens takes %5 in %6.")
                    .arg(App.models.activeName).arg(App.models.backendLabel).arg(App.formatBytes(root.fixedBytes))
                    .arg(root.s.contextMax).arg(App.formatBytes(root.s.kvCacheBytes)).arg(root.s.kvMode.toUpperCase())
                  : qsTr("Load a model to see how its memory splits.")
        }
        VramBar {
            Layout.fillWidth: true
            visible: App.models.loaded
            segments: root.s.breakdown
            total: root.s.deviceTotal
            used: root.s.deviceUsed
        }
    }
}
