import QtQuick
import HlwqChat
import QtQuick.Controls
import QtQuick.Layouts

// Where the card's memory goes: the engine's parts stacked, then what else uses the GPU,
// then free, all against the card's capacity.
ColumnLayout {
    id: root
    property var segments: []       // [{name, bytes}]
    property double total: 0        // card capacity (or the engine total on CPU)
    property double used: 0         // used on the card by everyone
    spacing: 6

    readonly property double engine: {
        let s = 0
        for (let i = 0; i < segments.length; ++i) s += segments[i].bytes
        return s
    }
    readonly property double capacity: total > 0 ? total : Math.max(engine, 1)
    readonly property double other: total > 0 ? Math.max(0, used - engine) : 0

    Rectangle {
        objectName: "vramBar"
        Layout.fillWidth: true
        height: 18
        radius: 5
        color: Theme.surfaceAlt
        clip: true
        Accessible.name: qsTr("VRAM usage")
        Row {
            anchors.fill: parent
            Repeater {
                model: root.segments
                Rectangle {
                    required property var modelData
                    required property int index
                    width: root.width * modelData.bytes / root.capacity
                    height: 18
                    color: Theme.segmentColors[index % Theme.segmentColors.length]
                }
            }
            Rectangle {
                width: root.width * root.other / root.capacity
                height: parent.height
                color: Theme.border
            }
        }
    }
    GridLayout {
        Layout.fillWidth: true
        columns: root.width > 560 ? 3 : 1
        columnSpacing: 18
        rowSpacing: 3
        Repeater {
            model: root.segments
            RowLayout {
                required property var modelData
                required property int index
                Layout.fillWidth: true
                spacing: 6
                Rectangle { width: 9; height: 9; radius: 2; color: Theme.segmentColors[index % Theme.segmentColors.length] }
                Label { text: modelData.name; color: Theme.textMuted; font.pixelSize: 11; Layout.fillWidth: true; elide: Text.ElideRight }
                Label { text: App.formatBytes(modelData.bytes); color: Theme.text; font.pixelSize: 11 }
            }
        }
        RowLayout {
            visible: root.other > 0
            Layout.fillWidth: true
            spacing: 6
            Rectangle { width: 9; height: 9; radius: 2; color: Theme.border }
            Label { text: qsTr("Other"); color: Theme.textMuted; font.pixelSize: 11; Layout.fillWidth: true }
            Label { text: App.formatBytes(root.other); color: Theme.text; font.pixelSize: 11 }
        }
    }
}
