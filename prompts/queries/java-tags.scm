; dgcode tags for Java. Captures as in python-tags.scm. A type name that is also a
; definition is dropped from the references by the extractor.

(class_declaration name: (identifier) @name.definition.class) @definition.class

(record_declaration name: (identifier) @name.definition.class) @definition.class

(enum_declaration name: (identifier) @name.definition.enum) @definition.enum

(interface_declaration name: (identifier) @name.definition.interface) @definition.interface

(method_declaration name: (identifier) @name.definition.method) @definition.method

(constructor_declaration name: (identifier) @name.definition.method) @definition.method

(method_invocation name: (identifier) @name.reference.call)

(object_creation_expression type: (type_identifier) @name.reference.class)

(superclass (type_identifier) @name.reference.class)

(type_list (type_identifier) @name.reference.implementation)

(type_identifier) @name.reference.type
