; dgcode tags for Go. Captures as in python-tags.scm. A type name that is also a
; definition is dropped from the references by the extractor.

(function_declaration name: (identifier) @name.definition.function) @definition.function

(method_declaration name: (field_identifier) @name.definition.method) @definition.method

(type_declaration (type_spec name: (type_identifier) @name.definition.type)) @definition.type

(method_elem name: (field_identifier) @name.definition.method) @definition.method

(source_file (const_declaration (const_spec name: (identifier) @name.definition.constant)) @definition.constant)

(source_file (var_declaration (var_spec name: (identifier) @name.definition.constant)) @definition.constant)

(call_expression
  function: [
    (identifier) @name.reference.call
    (parenthesized_expression (identifier) @name.reference.call)
    (selector_expression field: (field_identifier) @name.reference.call)
    (parenthesized_expression (selector_expression field: (field_identifier) @name.reference.call))
  ])

(type_identifier) @name.reference.type
