; dgcode tags for JavaScript (and JSX). Captures as in python-tags.scm.

((method_definition
  name: (property_identifier) @name.definition.method) @definition.method
  (#not-eq? @name.definition.method "constructor"))

[(class name: (identifier) @name.definition.class)
 (class_declaration name: (identifier) @name.definition.class)] @definition.class

[(function_declaration name: (identifier) @name.definition.function)
 (generator_function_declaration name: (identifier) @name.definition.function)] @definition.function

(lexical_declaration
  (variable_declarator
    name: (identifier) @name.definition.function
    value: [(arrow_function) (function_expression)])) @definition.function

(variable_declaration
  (variable_declarator
    name: (identifier) @name.definition.function
    value: [(arrow_function) (function_expression)])) @definition.function

((call_expression
  function: (identifier) @name.reference.call)
  (#not-match? @name.reference.call "^(require)$"))

(call_expression
  function: (member_expression property: (property_identifier) @name.reference.call))

(new_expression constructor: (identifier) @name.reference.class)

(class_heritage (identifier) @name.reference.class)

(import_specifier name: (identifier) @name.reference.import)
