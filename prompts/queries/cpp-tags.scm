; dgcode tags for C++. Captures as in python-tags.scm. A type name that is also a
; definition is dropped from the references by the extractor.

(function_definition
  declarator: [
    (function_declarator declarator: (identifier) @name.definition.function)
    (pointer_declarator declarator: (function_declarator declarator: (identifier) @name.definition.function))
    (reference_declarator (function_declarator declarator: (identifier) @name.definition.function))
  ]) @definition.function

(function_definition
  declarator: (function_declarator
    declarator: [(field_identifier) @name.definition.method
                 (qualified_identifier name: (identifier) @name.definition.method)])) @definition.method

(declaration
  declarator: (function_declarator declarator: (identifier) @name.definition.function)) @definition.function

(field_declaration
  declarator: (function_declarator declarator: (field_identifier) @name.definition.method)) @definition.method

[(class_specifier name: (type_identifier) @name.definition.class body: (_))
 (struct_specifier name: (type_identifier) @name.definition.class body: (_))
 (union_specifier name: (type_identifier) @name.definition.class body: (_))] @definition.class

(enum_specifier name: (type_identifier) @name.definition.type body: (_)) @definition.type

(type_definition declarator: (type_identifier) @name.definition.type) @definition.type

(alias_declaration name: (type_identifier) @name.definition.type) @definition.type

(namespace_definition name: (namespace_identifier) @name.definition.module) @definition.module

(preproc_function_def name: (identifier) @name.definition.macro) @definition.macro

(preproc_def name: (identifier) @name.definition.macro) @definition.macro

(call_expression
  function: [
    (identifier) @name.reference.call
    (field_expression field: (field_identifier) @name.reference.call)
    (qualified_identifier name: (identifier) @name.reference.call)
    (template_function name: (identifier) @name.reference.call)
  ])

(base_class_clause (type_identifier) @name.reference.class)

(type_identifier) @name.reference.type
