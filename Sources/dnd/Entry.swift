import DNDCLI

@main
enum Entry {
    static func main() async { await DND.main() }
}
