import QtQuick
import QtTest
import HlwqChat

TestCase {
    name: "MainWindow"
    when: windowShown

    Component {
        id: mainComponent
        Main {}
    }

    function test_opens_with_title() {
        const window = createTemporaryObject(mainComponent, null)
        verify(window !== null, "Main.qml failed to load")
        compare(window.title, "HLWQ Chat")
        verify(window.width >= 800)
    }
}
