/// Field names and kinds of the GraphDef messages, for `TextFormatLocator`'s error positions.
/// Mirrors Protos/tensorflow/*.proto (keep the two in step when a field is added there).
enum TextFormatSchema {
    enum FieldKind: Equatable {
        case message(String)
        case string, int, uint, float, bool
        case enumeration(String, Set<String>)

        var noun: String {
            switch self {
            case .message(let m): "\(m) message"
            case .string: "string"
            case .int: "integer"
            case .uint: "unsigned integer"
            case .float: "number"
            case .bool: "bool"
            case .enumeration(let e, _): "\(e) value"
            }
        }
    }

    static let dataType = FieldKind.enumeration("DataType", [
        "DT_INVALID", "DT_FLOAT", "DT_DOUBLE", "DT_INT32", "DT_UINT8", "DT_INT16", "DT_INT8", "DT_STRING",
        "DT_COMPLEX64", "DT_INT64", "DT_BOOL", "DT_QINT8", "DT_QUINT8", "DT_QINT32", "DT_BFLOAT16",
        "DT_QINT16", "DT_QUINT16", "DT_UINT16", "DT_COMPLEX128", "DT_HALF", "DT_RESOURCE", "DT_VARIANT",
        "DT_UINT32", "DT_UINT64", "DT_FLOAT8_E5M2", "DT_FLOAT8_E4M3FN", "DT_FLOAT8_E4M3FNUZ",
        "DT_FLOAT8_E4M3B11FNUZ", "DT_FLOAT8_E5M2FNUZ", "DT_INT4", "DT_UINT4", "DT_INT2", "DT_UINT2",
        "DT_FLOAT4_E2M1FN", "DT_FLOAT_REF", "DT_DOUBLE_REF", "DT_INT32_REF", "DT_UINT8_REF", "DT_INT16_REF",
        "DT_INT8_REF", "DT_STRING_REF", "DT_COMPLEX64_REF", "DT_INT64_REF", "DT_BOOL_REF", "DT_QINT8_REF",
        "DT_QUINT8_REF", "DT_QINT32_REF", "DT_BFLOAT16_REF", "DT_QINT16_REF", "DT_QUINT16_REF",
        "DT_UINT16_REF", "DT_COMPLEX128_REF", "DT_HALF_REF", "DT_RESOURCE_REF", "DT_VARIANT_REF",
        "DT_UINT32_REF", "DT_UINT64_REF", "DT_FLOAT8_E5M2_REF", "DT_FLOAT8_E4M3FN_REF",
        "DT_FLOAT8_E4M3FNUZ_REF", "DT_FLOAT8_E4M3B11FNUZ_REF", "DT_FLOAT8_E5M2FNUZ_REF", "DT_INT4_REF",
        "DT_UINT4_REF", "DT_INT2_REF", "DT_UINT2_REF", "DT_FLOAT4_E2M1FN_REF"
    ])

    static let fullTypeId = FieldKind.enumeration("FullTypeId", [
        "TFT_UNSET", "TFT_VAR", "TFT_ANY", "TFT_PRODUCT", "TFT_NAMED", "TFT_FOR_EACH", "TFT_CALLABLE",
        "TFT_TENSOR", "TFT_ARRAY", "TFT_OPTIONAL", "TFT_LITERAL", "TFT_ENCODED", "TFT_SHAPE_TENSOR",
        "TFT_BOOL", "TFT_UINT8", "TFT_UINT16", "TFT_UINT32", "TFT_UINT64", "TFT_INT8", "TFT_INT16",
        "TFT_INT32", "TFT_INT64", "TFT_HALF", "TFT_FLOAT", "TFT_DOUBLE", "TFT_BFLOAT16", "TFT_COMPLEX64",
        "TFT_COMPLEX128", "TFT_STRING", "TFT_DATASET", "TFT_RAGGED", "TFT_ITERATOR", "TFT_MUTEX_LOCK",
        "TFT_LEGACY_VARIANT"
    ])

    /// Message name -> field name -> kind. Map fields appear as messages with `key` and `value`.
    /// `FunctionDefLibrary` is absent on purpose: its contents are checked for syntax only.
    static let messages: [String: [String: FieldKind]] = [
        "GraphDef": ["node": .message("NodeDef"), "versions": .message("VersionDef"), "version": .int,
                     "library": .message("FunctionDefLibrary"), "debug_info": .message("GraphDebugInfo")],
        "VersionDef": ["producer": .int, "min_consumer": .int, "bad_consumers": .int],
        "NodeDef": ["name": .string, "op": .string, "input": .string, "device": .string,
                    "attr": .message("AttrEntry"), "experimental_debug_info": .message("ExperimentalDebugInfo"),
                    "experimental_type": .message("FullTypeDef")],
        "AttrEntry": ["key": .string, "value": .message("AttrValue")],
        "ExperimentalDebugInfo": ["original_node_names": .string, "original_func_names": .string],
        "AttrValue": ["s": .string, "i": .int, "f": .float, "b": .bool, "type": dataType,
                      "shape": .message("TensorShapeProto"), "tensor": .message("TensorProto"),
                      "list": .message("ListValue"), "func": .message("NameAttrList"), "placeholder": .string],
        "ListValue": ["s": .string, "i": .int, "f": .float, "b": .bool, "type": dataType,
                      "shape": .message("TensorShapeProto"), "tensor": .message("TensorProto"),
                      "func": .message("NameAttrList")],
        "NameAttrList": ["name": .string, "attr": .message("AttrEntry")],
        "TensorShapeProto": ["dim": .message("Dim"), "unknown_rank": .bool],
        "Dim": ["size": .int, "name": .string],
        "TensorProto": ["dtype": dataType, "tensor_shape": .message("TensorShapeProto"), "version_number": .int,
                        "tensor_content": .string, "half_val": .int, "float_val": .float, "double_val": .float,
                        "int_val": .int, "string_val": .string, "scomplex_val": .float, "int64_val": .int,
                        "bool_val": .bool, "dcomplex_val": .float, "resource_handle_val": .message("ResourceHandleProto"),
                        "variant_val": .message("VariantTensorDataProto"), "uint32_val": .uint, "uint64_val": .uint,
                        "float8_val": .string],
        "ResourceHandleProto": ["device": .string, "container": .string, "name": .string, "hash_code": .uint,
                                "maybe_type_name": .string, "dtypes_and_shapes": .message("DtypeAndShape")],
        "DtypeAndShape": ["dtype": dataType, "shape": .message("TensorShapeProto")],
        "VariantTensorDataProto": ["type_name": .string, "metadata": .string, "tensors": .message("TensorProto")],
        "CheckpointState": ["model_checkpoint_path": .string, "all_model_checkpoint_paths": .string,
                            "all_model_checkpoint_timestamps": .float, "last_preserved_timestamp": .float],
        "FullTypeDef": ["type_id": fullTypeId, "args": .message("FullTypeDef"), "s": .string, "i": .int],
    ]
}
