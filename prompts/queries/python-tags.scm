; dgcode tags for Python. Captures: @name.definition.KIND / @name.reference.KIND on the
; identifier, @definition.KIND on the whole definition (its header becomes the map line).

(class_definition
  name: (identifier) @name.definition.class) @definition.class

(function_definition
  name: (identifier) @name.definition.function) @definition.function

(module
  (expression_statement
    (assignment left: (identifier) @name.definition.constant) @definition.constant))

(call
  function: [
    (identifier) @name.reference.call
    (attribute attribute: (identifier) @name.reference.call)
  ])

(class_definition
  superclasses: (argument_list
    [(identifier) @name.reference.class
     (attribute attribute: (identifier) @name.reference.class)]))

(import_from_statement
  name: [
    (dotted_name (identifier) @name.reference.import .)
    (aliased_import name: (dotted_name (identifier) @name.reference.import .))
  ])

(type (identifier) @name.reference.type)

(decorator [(identifier) @name.reference.call
            (attribute attribute: (identifier) @name.reference.call)])
