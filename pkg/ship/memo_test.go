package ship

// Every test of the package checks the failing bytes placeCache keeps up
// against a scan of the lanes, wherever holdCheck uses them.
func init() { verifyFailingMemo = true }
