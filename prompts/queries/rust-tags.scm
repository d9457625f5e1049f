; dgcode tags for Rust. Captures as in python-tags.scm.

[(struct_item name: (type_identifier) @name.definition.class)
 (enum_item name: (type_identifier) @name.definition.class)
 (union_item name: (type_identifier) @name.definition.class)
 (type_item name: (type_identifier) @name.definition.class)] @definition.class

(declaration_list
  (function_item name: (identifier) @name.definition.method) @definition.method)

(function_item name: (identifier) @name.definition.function) @definition.function

(function_signature_item name: (identifier) @name.definition.method) @definition.method

(trait_item name: (type_identifier) @name.definition.interface) @definition.interface

(mod_item name: (identifier) @name.definition.module) @definition.module

(macro_definition name: (identifier) @name.definition.macro) @definition.macro

(const_item name: (identifier) @name.definition.constant) @definition.constant

(static_item name: (identifier) @name.definition.constant) @definition.constant

(call_expression function: (identifier) @name.reference.call)

(call_expression function: (field_expression field: (field_identifier) @name.reference.call))

(call_expression
  function: (scoped_identifier
    path: (identifier)? @name.reference.type
    name: (identifier) @name.reference.call))

(macro_invocation macro: (identifier) @name.reference.call)

(impl_item trait: (type_identifier) @name.reference.implementation)

(impl_item type: (type_identifier) @name.reference.implementation)

(struct_expression name: (type_identifier) @name.reference.class)

[(parameter type: (type_identifier) @name.reference.type)
 (let_declaration type: (type_identifier) @name.reference.type)
 (field_declaration type: (type_identifier) @name.reference.type)
 (generic_type type: (type_identifier) @name.reference.type)
 (reference_type type: (type_identifier) @name.reference.type)]

(function_item return_type: (type_identifier) @name.reference.type)

(use_declaration argument: (scoped_identifier name: (identifier) @name.reference.import))

(use_list [(identifier) @name.reference.import
           (scoped_identifier name: (identifier) @name.reference.import)])
