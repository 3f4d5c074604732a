pragma Singleton
import QtQuick
import HlwqChat

// Colours and sizes in one place. Dark or light follows the system palette; HLWQ_THEME
// (dark|light) overrides it for screenshots.
QtObject {
    id: theme
    property SystemPalette system: SystemPalette { colorGroup: SystemPalette.Active }
    readonly property bool dark: App.themeOverride === "dark"
                                 || (App.themeOverride !== "light" && system.window.hslLightness < 0.5)

    readonly property color window: dark ? "#16181d" : "#f7f7f9"
    readonly property color sidebar: dark ? "#1d2026" : "#eef0f4"
    readonly property color surface: dark ? "#22262e" : "#ffffff"
    readonly property color surfaceAlt: dark ? "#2a2f38" : "#f1f3f7"
    readonly property color border: dark ? "#343a45" : "#dfe3ea"
    readonly property color text: dark ? "#e8eaef" : "#1c1f26"
    readonly property color textMuted: dark ? "#99a1ae" : "#667085"
    readonly property color accent: dark ? "#7c8cff" : "#4f5bd5"
    readonly property color accentText: "#ffffff"
    readonly property color userBubble: dark ? "#343c6e" : "#e4e8ff"
    readonly property color codeBg: dark ? "#12141a" : "#f3f4f8"
    readonly property color danger: dark ? "#ff6b6b" : "#d92d20"
    readonly property color ok: dark ? "#4cc38a" : "#12a150"
    readonly property color warn: dark ? "#f5b94a" : "#c27803"

    // The breakdown's colours, in LiveStats.breakdown order.
    readonly property var segmentColors: ["#5b6cff", "#9b7bff", "#22b8cf", "#f59f00", "#e8590c", "#868e96"]
    readonly property color kvFp16: dark ? "#6c7480" : "#adb5bd"
    readonly property color kvCurrent: "#22b8cf"

    readonly property string mono: "DejaVu Sans Mono"
    readonly property int radius: 10
    readonly property int fontSize: 14
}
