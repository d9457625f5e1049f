; dgcode tags for TypeScript and TSX. Captures as in python-tags.scm.

((method_definition
  name: (property_identifier) @name.definition.method) @definition.method
  (#not-eq? @name.definition.method "constructor"))

(method_signature name: (property_identifier) @name.definition.method) @definition.method

(abstract_method_signature name: (property_identifier) @name.definition.method) @definition.method

[(class_declaration name: (type_identifier) @name.definition.class)
 (abstract_class_declaration name: (type_identifier) @name.definition.class)] @definition.class

[(function_declaration name: (identifier) @name.definition.function)
 (generator_function_declaration name: (identifier) @name.definition.function)
 (function_signature name: (identifier) @name.definition.function)] @definition.function

(lexical_declaration
  (variable_declarator
    name: (identifier) @name.definition.function
    value: [(arrow_function) (function_expression)])) @definition.function

(interface_declaration name: (type_identifier) @name.definition.interface) @definition.interface

(type_alias_declaration name: (type_identifier) @name.definition.type) @definition.type

(enum_declaration name: (identifier) @name.definition.enum) @definition.enum

(internal_module name: (identifier) @name.definition.module) @definition.module

(call_expression function: (identifier) @name.reference.call)

(call_expression
  function: (member_expression property: (property_identifier) @name.reference.call))

(new_expression constructor: (identifier) @name.reference.class)

(extends_clause value: (identifier) @name.reference.class)

(implements_clause (type_identifier) @name.reference.implementation)

(type_annotation (type_identifier) @name.reference.type)

(generic_type name: (type_identifier) @name.reference.type)

(import_specifier name: (identifier) @name.reference.import)
