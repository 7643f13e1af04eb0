// The file-system toolkit and the error type sit below the numeric core; every module that imports TensorCore sees them.
@_exported import FileKit
