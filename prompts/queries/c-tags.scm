; dgcode tags for C. Captures as in python-tags.scm. A type name that is also a
; definition is dropped from the references by the extractor.

(function_definition
  declarator: [
    (function_declarator declarator: (identifier) @name.definition.function)
    (pointer_declarator declarator: (function_declarator declarator: (identifier) @name.definition.function))
  ]) @definition.function

(declaration
  declarator: [
    (function_declarator declarator: (identifier) @name.definition.function)
    (pointer_declarator declarator: (function_declarator declarator: (identifier) @name.definition.function))
  ]) @definition.function

(struct_specifier name: (type_identifier) @name.definition.class body: (_)) @definition.class

(union_specifier name: (type_identifier) @name.definition.class body: (_)) @definition.class

(enum_specifier name: (type_identifier) @name.definition.type body: (_)) @definition.type

(type_definition declarator: (type_identifier) @name.definition.type) @definition.type

(preproc_function_def name: (identifier) @name.definition.macro) @definition.macro

(preproc_def name: (identifier) @name.definition.macro) @definition.macro

(call_expression function: (identifier) @name.reference.call)

(call_expression function: (field_expression field: (field_identifier) @name.reference.call))

(type_identifier) @name.reference.type
